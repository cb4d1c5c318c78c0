"""Scoring papers with an LLM: prompt building, the provider call, replies, prices and usage.

The pieces, one job each:
  prices.py    per-model prices from data/prices.toml, cost arithmetic
  usage.py     one row per LLM call in `llm_calls`, day totals, the `costs` summary
  prompt.py    the prompt from prompts/*.md: a run-constant prefix, then fenced papers
  fewshot.py   the team's thumbs turned into few-shot examples
  injection.py the heuristic that isolates abstracts addressed to an AI scorer
  replies.py   parsing and validating a reply (salvages truncated JSON)
  provider.py  the OpenAI(-compatible) chat call with retries and response-format fallback
  deadline.py  a hard deadline per HTTP request (a server that trickles bytes cannot hold a call)
  batch_api.py submitting and collecting through the Batch API
The scorer that ties them together is bot/scoring/openai_scorer.py.
"""
