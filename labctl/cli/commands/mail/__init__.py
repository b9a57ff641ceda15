"""The mail server's queue and session/delivery log."""
