"""Read models derived only from events (scores, portfolios, pay, timelines, queues)."""
