"""service-a: the public API of the platform; calls service-b for backend work."""
