"""A language model's tokens: the levels, and the word level's line end."""

LEVELS = ("char", "word")
EOS = "<eos>"  # word level: the end of every line
LINE_END = "\n"  # word level: a line's end in a token stream, read as <eos> (text.split() never gives "\n")
