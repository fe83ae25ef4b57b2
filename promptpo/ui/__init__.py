"""The web view (`promptpo ui`)."""
