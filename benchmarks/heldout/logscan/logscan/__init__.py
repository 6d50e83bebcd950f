"""Parse and summarise access logs and application logs."""
