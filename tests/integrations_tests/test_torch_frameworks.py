"""PyTorch Lightning logger and transformers callback: tiny models trained for real.

These need torch (not in the ``test`` extra: its install alone takes minutes); they skip
without it. ``make test-integrations`` installs the ``integrations`` extra and runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import loopml

torch = pytest.importorskip(
    "torch", reason="torch is not installed: run `make test-integrations` to run these tests"
)


def _regression(n: int = 64) -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return x, x[:, :1] * 2 + 0.5


def test_lightning_logger(tmp_path: Path) -> None:
    pytest.importorskip("lightning", reason="the Lightning tests need lightning")
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from loopml.integrations.lightning import LoopmlLogger

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.05, hidden: int = 8) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
            )

        def training_step(self, batch: Any, idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, idx: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    x, y = _regression()
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    logger = LoopmlLogger(project="lightning", name="tiny")
    trainer = L.Trainer(
        max_epochs=3,
        logger=logger,
        log_every_n_steps=2,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        accelerator="cpu",
    )
    trainer.fit(Tiny(), loader, loader)
    rec = loopml.get_run(logger.version)
    assert rec.name == "tiny" and rec.status == "finished"
    assert rec.params["lr"] == 0.05 and rec.params["hidden"] == 8
    assert rec.metrics["train_loss"].count == 12  # 8 steps an epoch, every 2nd, 3 epochs
    assert rec.metrics["train_loss"].last_step == trainer.global_step - 1
    assert rec.metrics["val_loss"].count == 3
    assert logger.name == "lightning"


def test_lightning_unsupported_version(monkeypatch: pytest.MonkeyPatch) -> None:
    lightning = pytest.importorskip("lightning")
    from loopml.integrations import lightning as integration

    monkeypatch.setattr(lightning, "__version__", "1.9.5")
    monkeypatch.setattr(integration, "_built", {})
    with pytest.raises(loopml.UnsupportedVersionError, match="lightning 1.9.5 is not supported"):
        _ = integration.LoopmlLogger


def test_transformers_callback(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers", reason="the tests need transformers")

    from loopml.integrations.transformers import LoopmlCallback

    # A tiny randomly initialised BERT: nothing is downloaded.
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    model = transformers.BertForSequenceClassification(config)
    g = torch.Generator().manual_seed(0)
    rows = [
        {"input_ids": torch.randint(0, 50, (8,), generator=g), "labels": torch.tensor(i % 2)}
        for i in range(32)
    ]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=8,
        logging_steps=2,
        learning_rate=1e-3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    cb = LoopmlCallback(project="hf")
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=rows, eval_dataset=rows[:8], callbacks=[cb]
    )
    trainer.train()
    trainer.evaluate()
    rec = loopml.get_run(cb.run.id)
    assert rec.status == "finished"
    assert rec.params["args.learning_rate"] == 1e-3 and rec.params["args.max_steps"] == 6
    assert rec.params["model_class"] == "BertForSequenceClassification"
    assert rec.params["config.hidden_size"] == 16
    loss = rec.metrics["loss"]
    assert loss.count == 3 and loss.last_step == 6  # logged at steps 2, 4, 6
    assert "learning_rate" in rec.metrics and "train_runtime" in rec.metrics
    assert rec.metrics["eval_loss"].last_step == 6  # evaluate() after training, same run


def test_transformers_unsupported_version(monkeypatch: pytest.MonkeyPatch) -> None:
    transformers = pytest.importorskip("transformers")
    from loopml.integrations import transformers as integration

    monkeypatch.setattr(transformers, "__version__", "4.20.0")
    monkeypatch.setattr(integration, "_built", {})
    with pytest.raises(
        loopml.UnsupportedVersionError, match="transformers 4.20.0 is not supported"
    ):
        _ = integration.LoopmlCallback
