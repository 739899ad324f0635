"""Serving profiles and the Docker containers that run them."""
