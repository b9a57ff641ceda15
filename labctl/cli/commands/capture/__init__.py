"""Read the lab's packet captures: dialogues, DNS, ladders, export."""
