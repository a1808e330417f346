// Placeholder: the models module is being written (issue 3).
import NeuralNet
