-- One database per service: each service owns its data.
CREATE DATABASE intake;
CREATE DATABASE evaluator;
CREATE DATABASE audit;
