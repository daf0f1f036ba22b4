"""Demo city: a Seoul-like road graph, bus network, cameras and vehicle registry generated from a seed."""
