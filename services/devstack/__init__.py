"""Runs the whole store on a laptop: `make run`."""
