"""Builds: the request and its plan per mode, the runner, detached jobs and their records, log rules."""
