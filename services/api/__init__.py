"""The FastAPI app: webhooks, the /v1 admin API, unsubscribe links, health."""
