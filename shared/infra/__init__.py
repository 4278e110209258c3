"""Infrastructure shared by the services: broker, database, logging, HTTP health and metrics."""
