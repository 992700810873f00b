"""Evaluate: campaigns (a grid of victims × defences × attacks × budgets × seeds), their store,
runners and report, and the pieces every evaluation shares (stealing a model directory, honest
traffic, tables for people, the demo)."""
