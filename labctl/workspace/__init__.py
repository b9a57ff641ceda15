"""What the student authors in exercise 10 (zone, BIND fragments, registration,
answers): the workspace folder, its skeleton, and `labctl apply`."""
