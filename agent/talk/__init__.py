"""Talking with children: conversation prompts, help guides and the letters they cite, each module
beside the TOML file that holds its words."""
