"""Demand: card taps → boardings and alightings → rides and journeys → loads, OD and the planners' inputs."""
