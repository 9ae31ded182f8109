"""Storage: SQLModel tables and the queries the API, activities and reports run."""
