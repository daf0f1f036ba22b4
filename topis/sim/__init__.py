"""Simulator: buses, passengers and cars of the demo city, producing wire events and ground truth."""
