"""Wire contracts: the events that cross Kafka between the services."""
