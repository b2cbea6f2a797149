"""Lambda entry points: parse the event, call one pipeline step, shape the reply."""
