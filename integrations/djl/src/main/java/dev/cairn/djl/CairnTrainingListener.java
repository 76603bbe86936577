package dev.cairn.djl;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import ai.djl.training.Trainer;
import ai.djl.training.listener.TrainingListener;
import ai.djl.util.Pair;
import dev.cairn.Blob;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.Entry;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TrainingState;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * Checkpoints a DJL {@link Trainer} with Cairn, the way DJL's {@code CheckpointsTrainingListener} saves a model,
 * and puts a fresh Trainer back where the newest committed checkpoint left off.
 *
 * <pre>{@code
 * CheckpointableAdam adam = CheckpointableAdam.builder().build();
 * CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(100).build();
 * Trainer trainer = model.newTrainer(new DefaultTrainingConfig(loss).optOptimizer(adam).addTrainingListeners(cairn));
 * trainer.initialize(inputShape);
 * TrainingPosition at = cairn.resume(trainer);              // START when nothing is committed yet
 * }</pre>
 *
 * <p><b>When it saves.</b> Every {@code N} steps ({@link Builder#everySteps}): right after the {@code N}-th,
 * {@code 2N}-th, ... update, inside that {@code Trainer.step()}, once {@link CheckpointableAdam} has updated every
 * parameter that needs a gradient: the one point where the step's update is applied and the next batch's forward
 * pass has not run, so state that a forward pass changes (BatchNorm's running statistics) matches the parameters.
 * (A DJL listener has no such hook of its own: {@code onTrainingBatch} comes after the forward and backward passes
 * and before the update; the listener arms the save there and the optimizer runs it.) At the end of every epoch
 * ({@link Builder#atEpochEnd}): in {@code onEpoch}. A step already saved is not saved twice. Counting assumes what
 * {@code EasyTrain.fit} does: one {@code Trainer.step()} after every training batch, updating every parameter that
 * needs a gradient; a step that does not fails the next {@code onTrainingBatch} or {@code onEpoch} with
 * {@code INVALID_INPUT} rather than saving a mixed state. Saves are {@code SaveMode.COPY}: training goes on once the
 * state is in staging ({@link Builder#overlapCapture}: copied by the engine while the next forward and backward pass run); each save's {@link CheckpointHandle} goes to {@link Builder#onSave} (a failed tier fails
 * that handle's futures, not training; a save refused at once throws from {@code Trainer.step()} or {@code onEpoch}:
 * bad input, and a first save into a run that holds committed checkpoints when {@link #resume} was not called,
 * which would mix two runs, or whose store cannot say whether it holds any). The {@link Checkpointer}
 * is the caller's: close it after the Trainer; closing it waits for saves in flight.
 *
 * <p><b>What a checkpoint holds</b> (entry names; {@code <p>} is the parameter's name in
 * {@code Block.getParameters()}, e.g. {@code 01Linear_weight}; a parameter listed under several names, as a block used
 * twice lists its own, is one array and is held once, under the first):
 * <pre>
 * param/&lt;p&gt;            tensor        every parameter of the model's block, in its DJL data type
 * optim/m/&lt;p&gt;          tensor        {@link CheckpointableAdam}'s first moment, for each parameter that needs a gradient
 * optim/v/&lt;p&gt;          tensor        its second moment (both marked optimizer state)
 * optim/t/&lt;p&gt;          blob, i64 LE  updates applied to that parameter (Adam's t)
 * optim/config          blob, UTF-8   beta1, beta2, epsilon, weight decay, rescaleGrad, clipGrad (bits included);
 *                                     resume refuses other ones (the learning-rate tracker is not recorded)
 * train/step            blob, i64 LE  Trainer.step() calls applied
 * train/epoch           blob, i64 LE  epochs finished
 * train/batch-in-epoch  blob, i64 LE  the next batch's index in its epoch
 * user/&lt;key&gt;           blob          what {@link UserState#capture} returned (RNG and data-loader positions)
 * </pre>
 * The checkpoint's step is {@code train/step}.
 *
 * <p><b>Optimizers.</b> Only {@link CheckpointableAdam}: DJL's built-in optimizers (Adam, AdamW, SGD with
 * momentum, Nag, RmsProp, Adagrad, Adadelta) keep their state and update counts in private fields that can be
 * neither read nor restored, and a resume without them would continue a different run. Not captured: the
 * Trainer's metrics and evaluators' running totals (reporting only), gradients (zero between steps), and the
 * engine's own random generator (dropout and other random layers draw from it; DJL lets one set its seed,
 * {@code Engine.setRandomSeed}, but not read its state): a model with random layers resumes bit for bit only if the
 * user reseeds it from the position, e.g. in their own listener. The Trainer must have one CPU device: parameters
 * and moments are saved from and restored into their memory in place, so each must also lie contiguous in CPU memory
 * (a model created on a GPU, or a transposed view set as a parameter, is refused with {@code INVALID_CONFIG} naming
 * it, at {@link #resume} and at every save, before anything is written).
 *
 * <p>Not thread-safe: DJL calls listeners on the training thread.
 */
public final class CairnTrainingListener implements TrainingListener {
    public static final String PARAM = "param/";
    public static final String OPTIM_M = "optim/m/";
    public static final String OPTIM_V = "optim/v/";
    public static final String OPTIM_T = "optim/t/";
    public static final String OPTIM_CONFIG = "optim/config";
    public static final String TRAIN_STEP = "train/step";
    public static final String TRAIN_EPOCH = "train/epoch";
    public static final String TRAIN_BATCH_IN_EPOCH = "train/batch-in-epoch";
    public static final String USER = "user/";

    private final Checkpointer checkpointer;
    private final CheckpointableAdam optimizer;
    private final long everySteps;
    private final boolean atEpochEnd;
    private final UserState userState;
    private final Consumer<CheckpointHandle> onSave;
    private final boolean overlapCapture;
    /** Overlapped: the newest save's capture, which the next update waits for; null when none is pending. */
    private CompletableFuture<Void> capturing;
    /** The arrays the last save found in their own CPU memory ({@link #view}): not checked again. */
    private java.util.Set<NDArray> inPlace = java.util.Set.of();
    /** Overlapped: copies of the parameters a forward pass may change (no gradient), by name, reused save after save. */
    private final Map<String, ByteBuffer> snapshots = new LinkedHashMap<>();
    private long step;
    private long epoch;
    private long batchInEpoch;
    private long lastSavedStep = -1;
    private boolean trainingStarted;
    /** Whether this run is known to continue the store's newest checkpoint, or to be the first in it. */
    private boolean continuesStore;

    private CairnTrainingListener(Builder b) {
        this.checkpointer = b.checkpointer;
        this.optimizer = b.optimizer;
        this.everySteps = b.everySteps;
        this.atEpochEnd = b.atEpochEnd;
        this.userState = b.userState;
        this.onSave = b.onSave;
        this.overlapCapture = b.overlapCapture;
    }

    /**
     * A listener that saves through {@code checkpointer} the state of a Trainer configured with {@code optimizer}
     * (the same instance must be given to the Trainer's config).
     */
    public static Builder builder(Checkpointer checkpointer, CheckpointableAdam optimizer) {
        return new Builder(checkpointer, optimizer);
    }

    /** Where training stands now (after {@link #resume}, where it resumes). */
    public TrainingPosition position() {
        return new TrainingPosition(step, epoch, batchInEpoch);
    }

    /**
     * Restores the newest committed checkpoint into {@code trainer}'s parameters and the optimizer, gives the user's
     * state back to the {@link UserState}, and returns where training continues: the caller skips
     * {@link TrainingPosition#epoch()} epochs and starts the next one at batch
     * {@link TrainingPosition#batchInEpoch()}. Returns {@link TrainingPosition#START} and changes nothing when no
     * checkpoint is committed (the restore's NOT_FOUND); a store that cannot say (no tier could be listed, a MANIFEST
     * could not be read) fails the resume: it never starts the run over. Call it after {@code trainer.initialize(...)}
     * and before training.
     *
     * <p>What the listener checks (the optimizer's settings, each parameter's update count, the step) is read from the
     * checkpoint's blobs alone first ({@link RestoreRequest#blobsOnly}), and only then are the tensors of the same step
     * restored into the trainer's parameters and the optimizer's moments, in place. So a resume refused for bad input
     * (other optimizer settings, a checkpoint of another model or not made by this listener) leaves the trainer, the
     * optimizer and the listener as they were.
     *
     * @throws CheckpointException INVALID_INPUT when training has started, the trainer is not initialized, or the
     *                             checkpoint was made from another model (an entry of a parameter missing, a tensor
     *                             without a target); INVALID_CONFIG when the checkpoint was made with other optimizer
     *                             settings, the trainer has other than one CPU device, or a parameter or moment is not
     *                             contiguous in CPU memory; and whatever else the restore throws (STORAGE: no tier
     *                             could be listed). A restore that fails once it has started reading tensors
     *                             (CORRUPT: a chunk bad in every tier; TIMEOUT) leaves the parameters holding part of
     *                             the checkpoint, and an exception from {@link UserState#restore}, which runs last,
     *                             leaves the trainer and the optimizer holding all of it while the listener's counters
     *                             are unchanged: do not train that trainer on.
     */
    public TrainingPosition resume(Trainer trainer) {
        if (trainingStarted) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT,
                    "resume must come before training: this listener has already seen step " + step);
        }
        checkDevice(trainer);
        List<Tensor> targets = tensors(trainer); // checks every array, also for a run that starts here
        java.util.Optional<RestoreResult> newest = newestBlobs();
        if (newest.isEmpty()) {
            continuesStore = true;
            return TrainingPosition.START;
        }
        RestoreResult restored = newest.get();
        // Every check before anything is written.
        long savedStep = restored.step();
        TrainingState saved = restored.state();
        String config = savedBlob(saved, OPTIM_CONFIG, savedStep).toUtf8();
        if (!config.equals(optimizer.describe())) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "checkpoint " + savedStep
                    + " was made with optimizer " + config + ", this trainer has " + optimizer.describe());
        }
        Map<Parameter, Long> updates = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : parameters(trainer)) {
            if (p.getValue().requiresGradient()) {
                updates.put(p.getValue(), readI64(savedBlob(saved, OPTIM_T + p.getKey(), savedStep)));
            }
        }
        TrainingPosition at = new TrainingPosition(readI64(savedBlob(saved, TRAIN_STEP, savedStep)),
                readI64(savedBlob(saved, TRAIN_EPOCH, savedStep)),
                readI64(savedBlob(saved, TRAIN_BATCH_IN_EPOCH, savedStep)));
        if (at.step() != savedStep) {
            throw new CheckpointException(CheckpointException.Reason.CORRUPT,
                    "checkpoint " + savedStep + " holds " + TRAIN_STEP + " = " + at.step());
        }
        Map<String, byte[]> user = new LinkedHashMap<>();
        for (Entry e : saved.entries()) {
            if (e instanceof Blob b && b.name().startsWith(USER)) {
                user.put(b.name().substring(USER.length()), b.toByteArray());
            }
        }
        // The tensors of the same step, in place. The restore refuses up front, writing nothing, a saved tensor without
        // a target or a target the step does not hold (a checkpoint of another model).
        checkpointer.restore(RestoreRequest.step(savedStep).into(TrainingState.of(targets)));
        updates.forEach((parameter, t) -> optimizer.moments(parameter.getId(), parameter.getArray()).updates = t);
        userState.restore(at, user);
        this.step = at.step();
        this.epoch = at.epoch();
        this.batchInEpoch = at.batchInEpoch();
        this.lastSavedStep = at.step();
        this.continuesStore = true;
        return at;
    }

    /** The blob {@code name} of checkpoint {@code step}; INVALID_INPUT when the checkpoint holds none. */
    private static Blob savedBlob(TrainingState saved, String name, long step) {
        if (!saved.contains(name)) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "checkpoint " + step
                    + " holds no entry '" + name + "': it was made from another model, or not by CairnTrainingListener");
        }
        return saved.blob(name);
    }

    @Override
    public void onTrainingBatch(Trainer trainer, BatchData batchData) {
        trainingStarted = true;
        // After this batch's forward and backward pass, before its update (Trainer.step()): the update changes the
        // weights and moments an overlapped save may still be copying.
        awaitCapture();
        checkNoSaveWaiting(trainer);
        // Counted from here on as applied: the position a save after this batch's update records.
        step++;
        batchInEpoch++;
        if (everySteps > 0 && step % everySteps == 0 && step > lastSavedStep) {
            // Not now: the forward pass of the batch in hand has run (and may have changed state such as BatchNorm's
            // running statistics) but its update has not. Right after the update, inside Trainer.step(), both have.
            optimizer.runAfterStep(parametersWithGradient(trainer), () -> save(trainer));
        }
    }

    @Override
    public void onEpoch(Trainer trainer) {
        trainingStarted = true;
        checkNoSaveWaiting(trainer);
        epoch++;
        batchInEpoch = 0;
        if (atEpochEnd && step > lastSavedStep) {
            save(trainer);
        }
    }

    @Override
    public void onValidationBatch(Trainer trainer, BatchData batchData) {
    }

    @Override
    public void onTrainingBegin(Trainer trainer) {
    }

    /**
     * A save still waiting for its step is dropped: that step's update never came. An overlapped save's capture is
     * waited for: the caller may close the model and free its memory next.
     */
    @Override
    public void onTrainingEnd(Trainer trainer) {
        optimizer.cancelAfterStep();
        awaitCapture();
    }

    /**
     * Overlapped capture: waits until the newest save has copied the weights and moments (its
     * {@link CheckpointHandle#captured()}). The listener calls it before each update and at the end of training; call
     * it yourself before changing parameters or moments outside {@code Trainer.step()}, or before closing the model
     * while training has not ended. A save that failed reads nothing more: its failure goes to its handle's futures
     * (and {@link Builder#onSave}), not to training. Returns at once without overlapped capture.
     */
    public void awaitCapture() {
        CompletableFuture<Void> pending = capturing;
        if (pending != null) {
            capturing = null;
            pending.handle((v, e) -> null).join();
        }
    }

    /** A save armed at the previous batch must have run during its Trainer.step(). */
    private void checkNoSaveWaiting(Trainer trainer) {
        int updated = optimizer.pendingAfterStep();
        if (updated >= 0) {
            optimizer.cancelAfterStep();
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "the checkpoint of step " + step
                    + " was not taken: the Trainer.step() after that batch updated " + updated + " of the "
                    + parametersWithGradient(trainer) + " parameters that need a gradient (CairnTrainingListener needs "
                    + "one Trainer.step() after every training batch, updating every such parameter through the "
                    + "CheckpointableAdam it was built with)");
        }
    }

    /**
     * The block's parameters, each once, under the first name {@code Block.getParameters()} gives it: a block used
     * twice (tied weights) lists its parameters under a name for each use, and they are one array, updated once per
     * step. Saved and restored under that first name only: a restore writes each array once.
     */
    private static List<Pair<String, Parameter>> parameters(Trainer trainer) {
        List<Pair<String, Parameter>> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (Pair<String, Parameter> p : trainer.getModel().getBlock().getParameters()) {
            if (seen.add(p.getValue().getId())) {
                out.add(p);
            }
        }
        return out;
    }

    private static int parametersWithGradient(Trainer trainer) {
        int n = 0;
        for (Pair<String, Parameter> p : parameters(trainer)) {
            if (p.getValue().requiresGradient()) {
                n++;
            }
        }
        return n;
    }

    private void save(Trainer trainer) {
        checkDevice(trainer);
        if (!continuesStore) {
            java.util.Optional<String> unknown = checkNothingCommitted();
            if (unknown.isPresent()) {
                // Training goes on: this save is skipped, and the next one asks again.
                onSave.accept(new SkippedSave(position().step(), unknown.get()));
                return;
            }
            continuesStore = true;
        }
        TrainingPosition at = position();
        TrainingState.Builder state = TrainingState.builder();
        if (overlapCapture) {
            awaitCapture(); // an epoch-end save right after a step's: the snapshots below are reused
        }
        (overlapCapture ? tensorsForOverlap(trainer) : tensors(trainer)).forEach(state::add);
        for (Pair<String, Parameter> p : parameters(trainer)) {
            if (p.getValue().requiresGradient()) {
                long t = optimizer.moments(p.getValue().getId(), p.getValue().getArray()).updates;
                state.add(Blob.of(OPTIM_T + p.getKey(), i64(t)));
            }
        }
        state.add(Blob.ofUtf8(OPTIM_CONFIG, optimizer.describe()))
                .add(Blob.of(TRAIN_STEP, i64(at.step())))
                .add(Blob.of(TRAIN_EPOCH, i64(at.epoch())))
                .add(Blob.of(TRAIN_BATCH_IN_EPOCH, i64(at.batchInEpoch())));
        userState.capture(at).forEach((key, bytes) -> state.add(Blob.of(USER + key, bytes.clone())));
        CheckpointHandle handle = checkpointer.save(at.step(), state.build(),
                overlapCapture ? SaveMode.ZERO_COPY : SaveMode.COPY);
        lastSavedStep = at.step();
        if (overlapCapture) {
            capturing = handle.captured();
        }
        onSave.accept(handle);
    }

    /**
     * Before the first save of a trainer that did not {@link #resume}: the run must hold no committed checkpoint.
     * Asked of the restore (of the newest step's blobs alone), whose NOT_FOUND is the one answer that says so. Where
     * the restore could not tell (STORAGE: a tier that could not be listed; TIMEOUT), returns why: that save is skipped
     * (a failed tier never fails training), and the next one asks again. Whatever else it throws fails the save. Not
     * {@link Checkpointer#list()}, which counts a tier it cannot list as holding nothing.
     *
     * @throws CheckpointException INVALID_INPUT when the run holds a committed checkpoint
     */
    private java.util.Optional<String> checkNothingCommitted() {
        java.util.Optional<RestoreResult> newest;
        try {
            newest = newestBlobs();
        } catch (CheckpointException e) {
            String why = "the first save of a trainer that did not resume could not tell whether the run holds committed"
                    + " checkpoints: " + e.getMessage();
            if (e.reason() == CheckpointException.Reason.STORAGE || e.reason() == CheckpointException.Reason.TIMEOUT) {
                return java.util.Optional.of(why + "; skipped, the next save asks again");
            }
            throw new CheckpointException(e.reason(), why, e);
        }
        if (newest.isEmpty()) {
            return java.util.Optional.empty();
        }
        throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "run holds committed checkpoints "
                + "(newest step " + newest.get().step() + ") and this trainer did not resume from them: call "
                + "resume(trainer) before training, or use a new run name");
    }

    /**
     * The blobs of the run's newest committed checkpoint ({@link RestoreRequest#blobsOnly}), or empty when it holds
     * none. Only NOT_FOUND says that; whatever else the restore throws (STORAGE: a tier it could not list) is thrown.
     * Not {@link Checkpointer#list()}: it counts a tier it cannot list, or a MANIFEST it cannot read, as holding
     * nothing, and a run whose store failed to answer would start over.
     */
    private java.util.Optional<RestoreResult> newestBlobs() {
        try {
            return java.util.Optional.of(checkpointer.restore(RestoreRequest.latest().blobsOnly()));
        } catch (CheckpointException e) {
            if (e.reason() == CheckpointException.Reason.NOT_FOUND) {
                return java.util.Optional.empty();
            }
            throw e;
        }
    }

    /**
     * A save the listener did not take, handed to {@code onSave} as the engine hands a save skipped for
     * {@code WhenBusy.SKIP}: no tier, nothing stored, {@link #skipped()} says why, {@link #captured()} and
     * {@link #done()} complete normally, {@link #committed(String)} fails STORAGE with the reason.
     */
    private record SkippedSave(long step, String reason) implements CheckpointHandle {
        @Override
        public List<String> tiers() {
            return List.of();
        }

        @Override
        public CompletableFuture<Void> captured() {
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletableFuture<dev.cairn.CommitReport> committed(String tier) {
            return CompletableFuture.failedFuture(new CheckpointException(CheckpointException.Reason.STORAGE,
                    "step " + step + " was not saved: " + reason));
        }

        @Override
        public CompletableFuture<List<dev.cairn.CommitReport>> done() {
            return CompletableFuture.completedFuture(List.of());
        }

        @Override
        public java.util.Optional<String> skipped() {
            return java.util.Optional.of(reason);
        }
    }

    /**
     * {@link #tensors}, for a save copied while the next forward and backward pass run: parameters that need a
     * gradient and their moments change only in the update, which waits for the capture; a parameter without one
     * (BatchNorm's running statistics) may change in the forward pass, so it is copied here, into a buffer of this
     * listener's.
     */
    private List<Tensor> tensorsForOverlap(Trainer trainer) {
        Set<String> changedByForward = new HashSet<>();
        for (Pair<String, Parameter> p : parameters(trainer)) {
            if (!p.getValue().requiresGradient()) {
                changedByForward.add(PARAM + p.getKey());
            }
        }
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : tensors(trainer)) {
            String name = t.name();
            if (!changedByForward.contains(name)) {
                out.add(t);
                continue;
            }
            ByteBuffer live = t.buffers().get(0);
            ByteBuffer copy = snapshots.get(name);
            if (copy == null || copy.capacity() != live.remaining()) {
                copy = ByteBuffer.allocateDirect(live.remaining()).order(ByteOrder.LITTLE_ENDIAN);
                snapshots.put(name, copy);
            }
            copy.clear();
            copy.put(0, live, live.position(), live.remaining());
            out.add(Tensor.of(name, t.dtype(), t.shape(), copy));
        }
        return out;
    }

    /** Parameters and moments as views of their memory: what a save copies from and a restore writes into. */
    private List<Tensor> tensors(Trainer trainer) {
        java.util.Set<NDArray> viewed = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        List<Tensor> out = viewOf(trainer, viewed);
        inPlace = viewed;
        return out;
    }

    private List<Tensor> viewOf(Trainer trainer, java.util.Set<NDArray> viewed) {
        List<Tensor> out = new ArrayList<>();
        List<Pair<String, Parameter>> needGradient = new ArrayList<>();
        for (Pair<String, Parameter> p : parameters(trainer)) {
            Parameter parameter = p.getValue();
            if (!parameter.isInitialized()) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "parameter " + p.getKey()
                        + " is not initialized: call trainer.initialize(...) before resume");
            }
            out.add(view(PARAM + p.getKey(), parameter.getArray(), viewed));
            if (parameter.requiresGradient()) {
                needGradient.add(p);
            }
        }
        // Moments are optimizer state: a lossy setting may round them, never the weights.
        for (Pair<String, Parameter> p : needGradient) {
            CheckpointableAdam.Moments s = optimizer.moments(p.getValue().getId(), p.getValue().getArray());
            out.add(view(OPTIM_M + p.getKey(), s.first, viewed).asOptimizerState());
            out.add(view(OPTIM_V + p.getKey(), s.second, viewed).asOptimizerState());
        }
        return out;
    }

    /**
     * {@code a} as a tensor over its own memory, added to {@code viewed}. An array found in place at the last save
     * (the same object: training updates parameters and moments in place) is not checked again.
     */
    private Tensor view(String name, NDArray a, java.util.Set<NDArray> viewed) {
        if (!inPlace.contains(a)) {
            checkInPlace(name, a);
        }
        viewed.add(a);
        // toByteBuffer(true): the CPU tensor's own memory in native (little-endian) order, not a copy; a save copies
        // it into staging before returning (overlapCapture: before its captured()), and a restore writes into it.
        return Tensor.of(name, DTypes.of(name, a.getDataType()), a.getShape().getShape(),
                a.toByteBuffer(true).order(ByteOrder.LITTLE_ENDIAN));
    }

    /**
     * DJL hands a copy instead of the array's memory for an array on another device or not contiguous (PyTorch: a
     * transposed view, a TorchScript model's weights): a save would read that copy and a restore write into it, so
     * both refuse.
     */
    private static void checkInPlace(String name, NDArray a) {
        if (!Device.cpu().equals(a.getDevice())) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, name + " is on device "
                    + a.getDevice() + ": CairnTrainingListener saves and restores arrays in place, in CPU memory (the"
                    + " trainer's devices do not move the model's parameters: Model.newInstance(name, Device.cpu()))");
        }
        if (!isOwnMemory(a.toByteBuffer(true), a)) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, name + " is not contiguous in"
                    + " memory: DJL gives a copy of it, which a save would read and a restore write into instead of the"
                    + " array (make it contiguous before training, e.g. set the parameter to a copy of it)");
        }
    }

    /**
     * Whether {@code bytes} is {@code a}'s own memory: a second {@code toByteBuffer(true)} sees a byte written through
     * it (DJL makes no contiguity or address public). The byte is put back at once, on the training thread, while no
     * save reads the array (an overlapped capture has been waited for).
     */
    private static boolean isOwnMemory(ByteBuffer bytes, NDArray a) {
        if (bytes.capacity() == 0) {
            return true;
        }
        if (bytes.isReadOnly() || !bytes.isDirect()) {
            return false;
        }
        ByteBuffer again = a.toByteBuffer(true);
        byte b = bytes.get(0);
        bytes.put(0, (byte) ~b);
        boolean shared = again.get(0) == (byte) ~b;
        bytes.put(0, b);
        return shared;
    }

    private static void checkDevice(Trainer trainer) {
        Device[] devices = trainer.getDevices();
        if (devices.length != 1 || !Device.Type.CPU.equals(devices[0].getDeviceType())) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "CairnTrainingListener needs a "
                    + "trainer on one CPU device (it saves and restores parameters in place), this one has "
                    + java.util.Arrays.toString(devices));
        }
    }

    private static byte[] i64(long v) {
        return ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    private static long readI64(Blob b) {
        byte[] bytes = b.toByteArray();
        if (bytes.length != Long.BYTES) {
            throw new CheckpointException(CheckpointException.Reason.CORRUPT,
                    "blob " + b.name() + " holds " + bytes.length + " bytes, expected 8");
        }
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    /**
     * Builds a {@link CairnTrainingListener}. Each setter checks its value at once and {@link #build()} the
     * combination; every failure is a {@link CheckpointException} with {@code INVALID_CONFIG}.
     */
    public static final class Builder {
        private final Checkpointer checkpointer;
        private final CheckpointableAdam optimizer;
        private long everySteps;
        private boolean atEpochEnd;
        private UserState userState = UserState.NONE;
        private Consumer<CheckpointHandle> onSave = handle -> { };
        private boolean overlapCapture;

        private Builder(Checkpointer checkpointer, CheckpointableAdam optimizer) {
            if (checkpointer == null) {
                throw config("checkpointer must not be null");
            }
            if (optimizer == null) {
                throw config("optimizer must not be null: give the CheckpointableAdam the Trainer's config uses");
            }
            this.checkpointer = checkpointer;
            this.optimizer = optimizer;
        }

        /** Saves every {@code n} updates ({@code n >= 1}). */
        public Builder everySteps(long n) {
            if (n < 1) {
                throw config("everySteps must be at least 1, was " + n);
            }
            this.everySteps = n;
            return this;
        }

        /** Saves at the end of every epoch (default: no). */
        public Builder atEpochEnd(boolean save) {
            this.atEpochEnd = save;
            return this;
        }

        /** The user's RNG and data-loader state, saved with every checkpoint (default: none). */
        public Builder userState(UserState state) {
            if (state == null) {
                throw config("userState must not be null: use UserState.NONE");
            }
            this.userState = state;
            return this;
        }

        /** Receives each save's handle, on the training thread, right after the save has captured the state. */
        public Builder onSave(Consumer<CheckpointHandle> observer) {
            if (observer == null) {
                throw config("onSave observer must not be null");
            }
            this.onSave = observer;
            return this;
        }

        /**
         * Overlapped capture (default: no). Saves return at once ({@code SaveMode.ZERO_COPY}): the engine copies the
         * weights and moments into staging while the next batch's forward and backward pass run, and that batch's
         * update waits until the copy is done ({@link CairnTrainingListener#awaitCapture}); parameters without a
         * gradient, which a forward pass may change, are copied at the save. Training then waits for a save only where
         * the copy takes longer than a forward and backward pass. Costs staging as large as the state (or the capture
         * waits for the encoders to free it). Do not change parameters or moments outside {@code Trainer.step()}
         * without {@link CairnTrainingListener#awaitCapture} first.
         */
        public Builder overlapCapture(boolean on) {
            this.overlapCapture = on;
            return this;
        }

        public CairnTrainingListener build() {
            if (everySteps == 0 && !atEpochEnd) {
                throw config("the listener would never save: set everySteps(n), atEpochEnd(true) or both");
            }
            return new CairnTrainingListener(this);
        }

        private static CheckpointException config(String message) {
            return new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, message);
        }
    }
}
