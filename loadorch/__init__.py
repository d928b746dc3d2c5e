"""loadorch: declarative, reproducible load tests on Locust with CI gates you can trust."""

__version__ = "0.1.0"
