"""service-b: the internal backend of the platform; does the processing service-a asks for."""
