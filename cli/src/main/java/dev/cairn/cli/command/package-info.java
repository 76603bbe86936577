/**
 * One class per {@code cairn} command, named after it ({@code verify} is {@link dev.cairn.cli.command.VerifyCommand},
 * {@code demo} is {@link dev.cairn.cli.command.DemoCommand}). Commands that read checkpoints share
 * {@link dev.cairn.cli.store.StoreOptions} ({@code --store}, {@code --s3-endpoint}, {@code --run}).
 * To add a command: a {@code Callable<Integer>} class here with a picocli {@code @Command} (a description, an
 * {@code Examples:} footer, {@code mixinStandardHelpOptions}), listed in {@link dev.cairn.cli.CairnCli}'s
 * {@code subcommands}. Commands throw on failure and return their exit status otherwise.
 */
package dev.cairn.cli.command;
