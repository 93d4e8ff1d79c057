"""Tests that do what an attacker or a careless client did from outside, written against docs/protocol.md.

Each test breaks one rule the way it was broken (issue: hardening), and fails if the rule stops holding."""
