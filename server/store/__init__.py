"""The database: the only code that speaks SQL (schema and migrations, queries, the event
writer), and what may be stored (validation of events and papers before they are written)."""
