"""Triggers that wait for Atlas Stream Processing processors in the triggerer."""
