"""Build and list the lab images."""
