export default function HomePage() {
  return <main>Inlet</main>;
}
