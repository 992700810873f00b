"""Model servers of other kinds that the tests start: KServe, MLflow, a bespoke JSON API."""
