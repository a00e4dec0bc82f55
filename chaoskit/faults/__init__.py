"""Fault drivers. They know nothing about load, and reach the proxy only over HTTP."""
