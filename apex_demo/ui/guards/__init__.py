"""What protects a public app: fair queues, abandoned jobs, who a visitor is, private cache hits."""
