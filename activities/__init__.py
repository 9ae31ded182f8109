"""Every side effect the workflows need, one module per domain, dependencies injected."""
