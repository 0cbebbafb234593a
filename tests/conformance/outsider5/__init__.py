"""A fifth conformance handler set, written from README.md and docs/*.md alone."""
