"""Sensors that wait for Atlas Stream Processing processors."""
