"""Every notebook runs top to bottom in a real Jupyter kernel, as a user would run it, and shows what it says."""
