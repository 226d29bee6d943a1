"""The HTML report of a query's pipeline state, with its figures."""
