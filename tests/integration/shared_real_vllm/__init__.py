"""Tests that only need a running real vLLM, sharing one server (see this folder's conftest)."""
