"""The tile server's HTTP API (OSML's routes) on Powertools' API Gateway HTTP resolver, with the viewer page."""
