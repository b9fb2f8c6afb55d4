import PromptGateCore
import PromptGateTestSupport
import Testing

/// A LoRA is found by alias, file name or file stem, in any case; presets extend inherited LoRAs with `loras.add`.
@Suite struct LoraNameTests {
    /// What clients write (the article's names among them) and the default preset's alias it resolves to.
    @Test(arguments: [
        ("turbo-alpha", "turbo-alpha"), ("FLUX.1-Turbo-Alpha", "turbo-alpha"),
        ("FLUX.1-Turbo-Alpha.safetensors", "turbo-alpha"), ("flux.1-turbo-alpha", "turbo-alpha"),
        ("Ghibsky_Illustration", "ghibsky"), ("GHIBSKY", "ghibsky"), ("product_style", "product_style"),
        ("Product_Style.safetensors", "product_style"),
    ])
    func requestNamesResolveToTheAlias(name: String, alias: String) throws {
        let context = try TestSupport.optimize([
            "prompt": "a red fox", "loras": [["name": .string(name), "weight": 0.8]],
        ])
        #expect(context.request.loras.map(\.name) == [alias])
        #expect(context.request.loras.first?.weight == 0.8)
    }

    /// The article's request: both LoRAs by their file stems.
    @Test func theArticlesLorasResolve() throws {
        let context = try TestSupport.optimize([
            "prompt": "a linen shirt", "negative_prompt": "blurry", "width": 1024, "height": 1024, "steps": 20,
            "seed": -1,
            "loras": [["name": "product_style", "weight": 0.8], ["name": "FLUX.1-Turbo-Alpha", "weight": 1.0]],
        ])
        #expect(context.request.loras.map(\.name) == ["product_style", "turbo-alpha"])
        #expect(context.request.seed != nil)
    }

    @Test func aLoraTagResolvesTheSameWay() throws {
        let context = try TestSupport.optimize(["prompt": "a castle <lora:Ghibsky_Illustration:0.7>"])
        #expect(context.request.loras.map(\.name) == ["ghibsky"])
        #expect(context.request.prompt == "a castle, high quality, highly detailed, sharp focus, 8k")
    }

    /// Unknown names are refused with every name that would have worked.
    @Test(arguments: ["turbo", "FLUX.1-Turbo", "ghibsky.ckpt", "product-style"])
    func unknownNamesListAliasesFilesAndStems(name: String) {
        do {
            _ = try TestSupport.optimize(["prompt": "a fox", "loras": [["name": .string(name)]]])
            Issue.record("\(name) was accepted")
        } catch let error as RequestError {
            #expect(error.code == "request.unknown_name")
            #expect(error.field == "loras[0].name")
            #expect(error.message.contains("turbo-alpha (FLUX.1-Turbo-Alpha, FLUX.1-Turbo-Alpha.safetensors)"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// The bundled brand presets add their LoRAs to default's, so default's stay available to them.
    @Test(arguments: ["fashion-shop", "electronics-brand"])
    func brandPresetsKeepTheDefaultLoras(preset: String) throws {
        let available = try #require(TestSupport.presets[preset]).loras.available
        for alias in ["turbo-alpha", "ghibsky", "product_style"] { #expect(available[alias] != nil, "\(alias)") }
        let context = try TestSupport.optimize([
            "prompt": "a jacket", "preset": .string(preset), "loras": [["name": "FLUX.1-Turbo-Alpha"]],
        ])
        #expect(context.request.loras.contains { $0.name == "turbo-alpha" })
    }

    /// `available` replaces the inherited list, `add` extends it, both at once is an error.
    @Test(arguments: [
        (
            "loras: {add: [{name: extra, file: extra.safetensors}]}",
            ["extra", "ghibsky", "product_style", "turbo-alpha"]
        ),
        ("loras: {available: [extra, product_style]}", ["extra", "product_style"]),
    ])
    func addExtendsAvailableReplaces(yaml: String, aliases: [String]) throws {
        let presets = try PresetLoader.parse(
            sources: BundledPresets.files + [("brand.yaml", "extends: default\n\(yaml)\n")])
        #expect(try #require(presets["brand"]).loras.available.keys.sorted() == aliases)
    }

    @Test func availableAndAddTogetherAreRefused() {
        let yaml = "extends: default\nloras: {available: [a], add: [b]}\n"
        #expect {
            _ = try PresetLoader.parse(sources: BundledPresets.files + [("brand.yaml", yaml)])
        } throws: { error in
            "\(error)".contains("loras.add") && "\(error)".contains("not both")
        }
    }
}
