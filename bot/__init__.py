"""Chat-ops for an ECS Fargate platform: the core that the Lambda handlers call."""
