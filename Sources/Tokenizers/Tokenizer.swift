// Placeholder: the tokenizers module is being written (issue 3).
import Formats
