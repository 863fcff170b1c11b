"""healthsync: connect users' health-service accounts, pull their data into one normalized model."""

__version__ = "0.1.0"
