"""Floor 5 — what drives traffic into the lab: requests and redeploys, paced load, a real browser."""
