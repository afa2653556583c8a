"""Apache Airflow provider for MongoDB Atlas Stream Processing."""

__version__ = "0.1.0"
