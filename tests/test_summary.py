import torch

import rnnkit
from rnnkit.models import ClassifierConfig, SequenceClassifier


def test_lecture_model_has_the_lectures_numbers():
    model = SequenceClassifier(ClassifierConfig())
    table = rnnkit.summary(model, torch.randint(1, 8185, (2, 10)))
    assert [row.params for row in table.rows] == [523_840, 66_048, 8_256, 0, 65]
    assert (table.total, table.trainable, table.non_trainable) == (598_209, 598_209, 0)
    text = str(table)
    assert "598,209" in text and "66,048" in text
    # the lecture's Keras table: Bidirectional (None, 128), the last output only (no sequences)
    assert table.rows[1].kind == "LSTM" and table.rows[1].output_shape == ("B", 128)


def test_stacked_variant_and_frozen_embedding():
    config = ClassifierConfig(hidden_sizes=(64, 32), dropout=0.5)
    model = SequenceClassifier(config)
    model.embedding.weight.requires_grad_(False)
    table = rnnkit.summary(model, torch.randint(1, 8185, (2, 10)), torch.tensor([10, 4]))
    lstm64 = 2 * 4 * 64 * (64 + 64 + 1)
    lstm32 = 2 * 4 * 32 * (128 + 32 + 1)
    assert [row.params for row in table.rows] == [523_840, lstm64, lstm32, 64 * 64 + 64, 0, 0, 65]
    assert table.total == 523_840 + lstm64 + lstm32 + 4_160 + 65
    assert table.non_trainable == 523_840
    assert [row.output_shape for row in table.rows[1:3]] == [("B", 10, 128), ("B", 64)]
    assert model.training  # summary restores the mode it found


def test_classifier_prediction_is_the_same_padded_or_not():
    model = SequenceClassifier(ClassifierConfig(vocab_size=50)).double()
    model.eval()
    review = torch.randint(1, 50, (1, 7))
    batch = torch.zeros(3, 12, dtype=torch.long)
    batch[1, :7] = review[0]
    batch[0] = torch.randint(1, 50, (12,))
    batch[2, :3] = torch.randint(1, 50, (3,))
    lengths = torch.tensor([12, 7, 3])
    for pooling in ("last", "max", "mean"):
        model.config.pooling = pooling
        alone = model(review)
        padded = model(batch, lengths)[1:2]
        torch.testing.assert_close(padded, alone, atol=1e-12, rtol=0)
