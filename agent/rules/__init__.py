"""House rules: the one pure decision point (`decide`), the household snapshot it reads, the app
catalogue and safe-search facts, and the words that explain every decision to a parent."""
