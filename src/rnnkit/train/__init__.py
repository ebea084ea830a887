"""Training: the fit loop and its engines, tasks, callbacks, optimizers, schedules, batches."""
from rnnkit.train.batches import ArrayData, StreamData
from rnnkit.train.callbacks import Callback, EarlyStopping, ModelCheckpoint
from rnnkit.train.engine import NumpyEngine
from rnnkit.train.optim import SGD, Adagrad, Adam, AdamW, RMSprop, clip_grad_norm, clip_grad_value
from rnnkit.train.schedules import CosineAnnealingLR, ReduceLROnPlateau, StepLR
from rnnkit.train.tasks import SupervisedTask, TBPTTTask, TeacherForcingTask
from rnnkit.train.trainer import Trainer

__all__ = ["Trainer", "NumpyEngine", "SupervisedTask", "TBPTTTask", "TeacherForcingTask",
           "Callback", "EarlyStopping", "ModelCheckpoint", "ArrayData", "StreamData", "SGD",
           "Adagrad", "RMSprop", "Adam", "AdamW", "clip_grad_norm", "clip_grad_value", "StepLR",
           "CosineAnnealingLR", "ReduceLROnPlateau"]
